"""Everything one simulator holds, built from its Config.

``Runtime.reset()`` builds the start state again (accounts, clock, store,
webhooks) and is what both ``POST /__admin/reset`` and a fresh in-process
fixture call. Specs and the media cache survive a reset: they hold no state
a client could observe.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from typing import Any

from mockserver.config import AccountSeed, Config
from mockserver.control import Control
from mockserver.engine.clock import Clock, parse_instant
from mockserver.engine.faults import Faults
from mockserver.engine.journal import Journal
from mockserver.engine.media import MediaCache
from mockserver.engine.model import Task
from mockserver.engine.simulation import Simulation
from mockserver.engine.state import State, open_state
from mockserver.engine.webhooks import HostPolicy, WebhookDispatcher
from mockserver.gate import Gate
from mockserver.providers import Provider, built_in, load_skin, plugins
from mockserver.spec import PROVIDERS, ProviderSpec, load_provider

#: how often expired records are swept, in seconds at time_scale 1 (a faster
#: clock sweeps at the same real-time pace, not more often)
SWEEP_SECONDS = 60.0


class Runtime:
    """The live state of one simulator and the thread that keeps time moving."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.providers = load_providers(config)
        self.specs: dict[str, ProviderSpec] = {n: p.spec for n, p in self.providers.items()}
        self.control = Control(self)
        # a request that waits reads afresh after (the store's read-ahead stops)
        self.gate = Gate(on_wait=lambda: self.store.read_ahead(None))
        self.media = MediaCache(config.media_cache_dir)
        self._lock = threading.RLock()
        self._ticker: _Ticker | None = None
        self.store: State = open_state(config.store)
        self._build()

    # state -------------------------------------------------------------------
    def _bootstrap(self) -> None:
        """Set up the store the first time (any worker may be first)."""
        config = self.config
        start = parse_instant(config.clock_start) if config.clock_start else None
        if self.store.bootstrap(Clock.anchor_for(start)):
            simulation = Simulation(
                self.specs, self._clock(), self.store, random.Random(config.seed)
            )
            try:
                for seed in initial_accounts(config, self.specs):
                    simulation.create_account(
                        seed.provider, seed.id, seed.credits, list(seed.keys), seed.purchased
                    )
            except BaseException:  # all the start state or none: the next start tries again
                self.store.clear()
                raise

    def _clock(self) -> Clock:
        config = self.config
        return Clock(
            config.clock,
            time_scale=config.time_scale,
            state=self.store.clock_state(),
            sleeper=self.gate.sleep,
        )

    def _build(self) -> None:
        """This process's objects around the shared store."""
        self._bootstrap()
        self.clock = self._clock()
        rng = random.Random(self.config.seed)
        self.simulation = Simulation(
            self.specs,
            self.clock,
            self.store,
            rng,
            auth_failures=(self.config.auth_failure_limit, 60.0),
        )
        self.webhooks = WebhookDispatcher(
            self.store,
            clock=self.clock,
            policies={name: spec.profile.webhooks for name, spec in self.specs.items()},
            payload=self._payload,
            hosts=HostPolicy(self.config.webhook_allow),
            rng=random.Random(rng.random()),
        )
        self.simulation.on_task_change.append(self.webhooks.schedule)
        self.faults = Faults(self.store, random.Random(rng.random()))
        self.journal = Journal(self.store, self.config.journal_size)
        self.clock.on_advance(self.run_due)
        self._last_sweep = self.clock.now()

    def reset(self) -> None:
        """Back to the start state: the configured accounts, a new clock, no tasks."""
        with self._lock:
            self.webhooks.close()
            self.store.clear()
            self._build()

    def _payload(self, task: Task) -> Any:
        return self.providers[task.provider].webhook_payload(self, task)

    def provider_for(self, path: str) -> Provider | None:
        """The provider whose paths ``path`` falls under (None for /__admin, media...)."""
        return next((p for p in self.providers.values() if p.owns(path)), None)

    def hosts(self) -> tuple[str, ...]:
        """Every host clients call for any provider (the in-process mode answers them)."""
        return tuple(dict.fromkeys(h for spec in self.specs.values() for h in spec.hosts))

    def media_urls(self, task: Task) -> tuple[str, str]:
        """The video and last-frame URLs of a task, served by this simulator."""
        base = self.config.media_base_url or task.origin
        root = f"{base.rstrip('/')}/__media/{task.media_token}"
        return f"{root}/video.mp4", f"{root}/last-frame.png"

    # time --------------------------------------------------------------------
    def run_due(self, now: float | None = None, *, wait: bool = True) -> None:
        """End due tasks, send due webhooks, sweep expired records. ``wait``: return
        only when the deliveries (and the retries due meanwhile) are done."""
        now = self.clock.now() if now is None else now
        self.simulation.settle_due()
        with self.gate.waiting():  # a receiver that takes its time holds up nobody
            self.webhooks.deliver_due(now, wait=wait)
        if now - self._last_sweep >= SWEEP_SECONDS * max(1.0, self.config.time_scale):
            self._last_sweep = now
            self.store.expire(now)

    def start(self, on_tick: Callable[[], None]) -> None:
        """Run ``on_tick`` in a background thread every ``tick_seconds`` of wall time."""
        if self.config.background and self._ticker is None:
            self._ticker = _Ticker(self.config.tick_seconds, on_tick)
            self._ticker.start()

    def close(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        self.webhooks.close()
        self.media.close()
        self.store.close()


def initial_accounts(config: Config, specs: Mapping[str, ProviderSpec]) -> tuple[AccountSeed, ...]:
    """The accounts a fresh simulator starts with: the --accounts file's, else
    each provider's demo account (spec/<provider>/profile.json)."""
    if config.accounts is not None:
        return config.accounts
    return tuple(
        AccountSeed(name, str(demo["id"]), int(demo["credits"]), tuple(demo["keys"]))
        for name, spec in specs.items()
        if (demo := spec.profile.demo_account)
    )


def load_providers(config: Config) -> dict[str, Provider]:
    """Every built-in provider and the configured plug-ins, with their specs."""
    found = [built_in(name) for name in PROVIDERS] + plugins(config.plugins)
    unknown = set(config.overrides) - {p.name for p in found}
    if unknown:
        raise ValueError(f"overrides for unknown provider(s): {', '.join(sorted(unknown))}")
    return {
        p.name: Provider(
            p.name,
            load_provider(p.name, config.profile, config.overrides.get(p.name), p.spec_dir),
            load_skin(p),
        )
        for p in found
    }


class _Ticker(threading.Thread):
    def __init__(self, interval: float, action: Callable[[], None]) -> None:
        super().__init__(name="seedance-mock-clock", daemon=True)
        self._interval = interval
        self._action = action
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self._interval):
            self._action()

    def stop(self) -> None:
        self._stopped.set()
        if self is not threading.current_thread():
            self.join(timeout=5)
