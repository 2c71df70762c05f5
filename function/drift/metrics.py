"""The drift check's own metrics, in MONITORING_NAMESPACE (dependency-free: infra/ alarms on
them and draws them at synth)."""

PSI_METRIC = "DriftPSI"  # per dimension (the `dimension` dimension)
MAX_PSI_METRIC = "DriftMaxPSI"  # the window's largest PSI: what the drift alarm watches
PREDICTIONS_METRIC = "DriftWindowPredictions"  # how many predictions the window held
DIMENSION_KEY = "dimension"
