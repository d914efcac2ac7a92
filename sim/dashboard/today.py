"""One run's state on its current day, in words, for the dashboard."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.model import outcomes
from sim.model.exchange import ExchangeModel


def describe(model: ExchangeModel, scenario_start: object) -> list[str]:
    """Short sentences on lane 0 of the model: the day, what each side has freed and owes, who is engaged."""
    gov, tal = model.government, model.taliban
    p = model.params.protocol
    first = lambda a: np.asarray(a).reshape(-1)[0]  # noqa: E731  lane 0 of an array or a scalar
    day = int(model.day)
    date = (pd.Timestamp(scenario_start) + pd.Timedelta(days=max(day - 1, 0))).strftime("%d %b %Y")
    freed, owed = int(first(gov.released)), int(first(model.scheduled))
    tal_freed = int(first(tal.released))
    due = int(min(round(freed * float(first(p.reciprocity_ratio))), int(first(p.taliban_prisoners))))
    lines = [f"Day {day} ({date})" if day else "Day 0: nothing has happened yet (press Step or Play)"]
    lines.append(f"The government has freed {freed:,} of {int(first(p.government_prisoners)):,} Taliban prisoners; "
                 f"the schedule asks {owed:,} by now.")
    lines.append(f"The Taliban have freed {tal_freed:,} of {int(first(p.taliban_prisoners)):,} government personnel; "
                 f"the agreed ratio asks {due:,} for the government's releases"
                 + (f" ({due - tal_freed:,} owed)." if due > tal_freed else "."))
    lines.append("The Taliban technical team is in Kabul and engaged." if first(tal.engaged)
                 else "The Taliban technical team is not engaged (not arrived, or walked out).")
    if first(model.offensive):
        lines.append("The government is in offensive mode: no releases.")
    elif first(gov.suspended):
        lines.append("The government has suspended releases until the Taliban catch up.")
    lines.append(f"Trust: the government's in the Taliban {float(first(gov.trust)):.2f}, "
                 f"the Taliban's in the government {float(first(tal.trust)):.2f}.")
    code = int(first(model.outcome))
    if code != outcomes.UNDECIDED:
        lines.append(f"The run has ended on day {int(first(model.end_day))}: {outcomes.OUTCOMES[code]}.")
    return lines
