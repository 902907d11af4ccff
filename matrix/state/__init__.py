"""Terraform state and where it lives, shared by both engines.

* `tfstate.py`: the state document, terraform's format v4 (`State`), as the embedded engine writes it
  and terraform reads it;
* `backend.py`: the synthesized S3 backend block (`Backend`, `backend_of`) and `StateBackend`, which
  reads and writes the state object, the lock file, the DynamoDB lock and digest exactly as
  terraform's S3 backend does, with a local copy under build/state/<cell>/;
* `stale_lock.py`: what a lock holder writes about itself, and the proof that a holder is dead.

The embedded engine (matrix/engines/embedded/) and the terraform engine (matrix/engines/terraform.py)
both build on this package; it depends on neither.
"""
