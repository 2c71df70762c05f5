"""The SageMaker side of training: launch a job, follow it, and what runs inside it (the entry
point launch ships, the image and requirements it names, the one region it checks)."""
