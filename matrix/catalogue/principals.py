"""Service principal names AWS knows, from botocore's service models, generated once.

Reading them at run time means loading every botocore service model (seconds of CPU:
docs/measurements.md); every strict emulator front and every check of a trust policy would pay
it. So the names are generated
once into `principals.json` (next to this file) with the botocore version they came from:

    python -m matrix.catalogue.principals        # regenerate after a botocore upgrade

`service_names()` reads that file; with another botocore installed than the one it was made from,
it falls back to reading the models (slow, but never stale). tests/catalogue checks that the file
matches what the pinned botocore gives.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import botocore

DATA = Path(__file__).with_name("principals.json")


def from_models() -> list[str]:
    """Every endpoint prefix and signing name in botocore's service models (slow: loads them all)."""
    import botocore.session  # lazy: only the generator and a version mismatch need the models

    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    names: set[str] = set()
    for service in session.get_available_services():
        try:
            meta = loader.load_service_model(service, "service-2").get("metadata", {})
        except Exception:  # noqa: S112 - a service without a loadable model adds no name
            continue
        names.update(n for n in (meta.get("endpointPrefix"), meta.get("signingName")) if n)
    return sorted(names)


@lru_cache(maxsize=1)
def service_names() -> frozenset[str]:
    try:
        data = json.loads(DATA.read_text())
        if data.get("botocore") == botocore.__version__:
            return frozenset(data["names"])
    except (OSError, ValueError, KeyError):
        pass
    return frozenset(from_models())


def main() -> None:
    names = from_models()
    DATA.write_text(json.dumps({"botocore": botocore.__version__, "regenerate": "python -m matrix.catalogue.principals",
                                "names": names}, indent=0) + "\n")
    print(f"{DATA}: {len(names)} service names from botocore {botocore.__version__}")


if __name__ == "__main__":
    main()
