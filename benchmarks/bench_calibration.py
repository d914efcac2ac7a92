"""How fast is a calibration? `swapsim calibrate scenarios/calibration/record_2020.yaml --workers 2`, end to end.

    python benchmarks/bench_calibration.py

Prints the wall time of the command (ABC, posterior predictive, forecast band, figures), the simulations
it ran and their rate, against this machine's baseline: one decree_2020 run on its own (one lane). For
scale: 200,000 simulations in 3 minutes is 900 µs a simulation.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from common import ROOT, one_run_ms, timed_command

SPEC = ROOT / "scenarios" / "calibration" / "record_2020.yaml"


def main() -> None:
    baseline = one_run_ms()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "fit"
        elapsed, peak = timed_command("calibrate", str(SPEC), "--workers", "2", "--out", str(out))
        info = json.loads((out / "calibration.json").read_text())
    sims = info["simulations"]
    print(f"baseline: one decree_2020 run on its own (one lane) takes {baseline:.1f} ms on this machine")
    print(f"swapsim calibrate {SPEC.relative_to(ROOT)} --workers 2: {elapsed:.1f} s end to end, "
          f"peak memory {peak:.0f} MiB")
    print(f"  {sims:,} simulations in {len(info['generations'])} generations: {sims / elapsed:,.0f} a second, "
          f"{1e6 * elapsed / sims:.0f} µs each, {elapsed / sims * 200_000:.1f} s per 200,000")
    print(f"  {baseline / 1000 * sims / elapsed:.0f}× as fast as single runs one after another "
          f"(200,000 of those would take {baseline * 200_000 / 1000 / 60:.0f} min here)")


if __name__ == "__main__":
    main()
