"""Write tests/golden/metrics.json: the metrics of the first five replicates of every shipped scenario.

The golden file pins the model's numbers, as Axelrod's fixtures pin expected play: a
change that moves any run of any shipped scenario fails tests/test_golden.py. When a
change to the model is meant, regenerate the file and commit it with the change:

    .venv/bin/python tests/golden/regenerate.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from sim import DEFAULT_SEED
from sim.experiments.seeds import replicate_seeds
from sim.model.exchange import ExchangeModel
from sim.model.scenario import load

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("metrics.json")
REPLICATES = 5


def golden_metrics() -> dict[str, list[dict]]:
    """Scenario stem -> one record per replicate: seed and every metric (NaN written as null)."""
    seeds = replicate_seeds(DEFAULT_SEED, REPLICATES).tolist()
    out = {}
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        metrics = ExchangeModel(load(path), seeds, collect=False).run().drop(columns="lane")
        out[path.stem] = [{name: plain(value) for name, value in row.items()} for row in metrics.to_dict("records")]
    return out


def plain(value):
    """A JSON value that reads back exactly: ints, floats (repr round-trips), strings; NaN as null."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    if float(value).is_integer() and not isinstance(value, float):
        return int(value)
    value = float(value)
    return None if math.isnan(value) else value


def main() -> None:
    data = golden_metrics()
    GOLDEN.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN} ({sum(len(v) for v in data.values())} runs of {len(data)} scenarios)")


if __name__ == "__main__":
    main()
