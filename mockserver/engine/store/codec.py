"""Records as JSON, for the backends that keep them outside the process."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from mockserver.engine.model import Attempt, Delivery, MediaSpec, Task


def dump(record: Any) -> str:
    return json.dumps(dataclasses.asdict(record), separators=(",", ":"), ensure_ascii=False)


def load_task(text: str) -> Task:
    data = json.loads(text)
    data["media"] = MediaSpec(**data["media"])
    return Task(**data)


def load_delivery(text: str) -> Delivery:
    data = json.loads(text)
    data["attempts"] = [Attempt(**a) for a in data["attempts"]]
    return Delivery(**data)
