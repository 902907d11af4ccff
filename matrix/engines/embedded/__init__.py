"""The embedded engine: the synthesized Terraform JSON applied with boto3, as terraform and the AWS
provider would apply it, with state in the S3 backend.

  engine.py       plan, apply, destroy; locks, journal, state writer (its docstring maps the flow)
  config.py       the document as nodes and edges, every key checked against arguments/ first
  arguments/      one classification per argument (generated names, tables, refusals, normalisation)
  expressions.py  terraform templates: interpolations, directives, escapes
  resources/      one handler per resource type (create, read, update, delete, find) with its table
  readback.py     reading back by type and region, and comparing wanted with found
  state.py        terraform state v4
"""
