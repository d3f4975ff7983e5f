"""The good client with one flaw: every attempt of a submit gets a new Idempotency-Key."""

from tests.exercise.clients.good import Policy, main

if __name__ == "__main__":
    raise SystemExit(main(Policy(keep_idempotency_key=False)))
