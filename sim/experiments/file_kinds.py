"""Which kind of swapsim file a mapping is (scenario, sweep spec, calibration spec), so that a file given to the
wrong command is named for what it is, in one line, instead of a list of "unknown key" lines."""

from __future__ import annotations

from sim.model.errors import ScenarioError, closest

SCENARIO, SWEEP, CALIBRATION = "scenario file", "sweep spec", "calibration spec"
COMMANDS = {SCENARIO: "run it with `swapsim run`", SWEEP: "run it with `swapsim sweep`",
            CALIBRATION: "fit it with `swapsim calibrate`"}


def kind_of(data: dict) -> str | None:
    """A spec has keys only specs have (base, parameters, replications, until...); a scenario has a scenario's
    sections and none of those; None when neither shows."""
    from sim.experiments.calibration_spec import CalibrationSpec
    from sim.experiments.sweep_spec import SweepSpec
    from sim.model.scenario import Scenario

    spec_keys = (set(SweepSpec.model_fields) | set(CalibrationSpec.model_fields)) - {"name", "description"}
    if set(data) & spec_keys:
        return CALIBRATION if looks_like_calibration(data) else SWEEP
    if set(data) & (set(Scenario.model_fields) | {"extends"}):
        return SCENARIO
    return None


def looks_like_calibration(data: dict) -> bool:
    """Whether a spec with a base and parameters is a calibration's rather than a sweep's: more of its keys, or
    of its misspelt keys' nearest names, belong to calibration specs only (a spec whose `until` is missing or
    misspelt is still a calibration spec, and is told so)."""
    from sim.experiments.calibration_spec import CalibrationSpec
    from sim.experiments.sweep_spec import SweepSpec

    calibration, sweep = set(CalibrationSpec.model_fields), set(SweepSpec.model_fields)
    known = calibration | sweep

    def votes(own: set[str]) -> int:
        nearest = [closest(str(key), sorted(known)) for key in data if key not in known]
        return len(set(data) & own) + sum(1 for near in nearest if near in own)

    return votes(calibration - sweep) > votes(sweep - calibration)


def expect(data: dict, expected: str, source: str) -> None:
    """Refuse, in one line, a file of another kind than `expected`."""
    kind = kind_of(data)
    if kind is not None and kind != expected:
        raise ScenarioError([f"{source}: this is a {kind}, not a {expected}: {COMMANDS[kind]}"])
