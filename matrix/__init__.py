"""stackmatrix: a multi-region test matrix and chaos suite for CDK for Terraform stacks.

The package is the engine; its modules, in the order data flows through them:

* `cells`    profiles (matrix/profiles.toml) -> validated cells, overrides, sharding
* `synth`    cells -> one synth process -> build/synth/<cell>/cdk.tf.json, cached by content hash
* `check`    the AWS acceptance catalogue (matrix/catalogue) over any cdk.tf.json
* `__main__` the command line (`python -m matrix ...`)

This module must stay importable with the standard library alone: noxfile.py imports
`matrix.devenv` before any dependency is installed.
"""
