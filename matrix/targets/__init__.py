"""Where cells are deployed: emulators (moto, LocalStack) and real AWS accounts.

* `localstack_host`  a managed LocalStack in host mode (localstack-core from PyPI, no Docker, no token)
  in its own venv, plus `find_external` for a LocalStack the user already runs
* `localstack_cli`   `python -m matrix localstack start|stop|status`
* `emulator_gaps`    where LocalStack and moto answer the stack's calls differently ("Emulator gap")
"""
