#!/bin/sh
# The stand-in base's entry point, with the real base's contract: the handler is the one argument;
# outside Lambda (no AWS_LAMBDA_RUNTIME_API) the Runtime Interface Emulator serves the function on
# :8080, inside Lambda (or under `sam local`, whose emulator sets the variable) the runtime
# client talks to the given Runtime API directly.
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  exec /usr/local/bin/aws-lambda-rie /var/lang/bin/python3.12 -m awslambdaric "$@"
else
  exec /var/lang/bin/python3.12 -m awslambdaric "$@"
fi
