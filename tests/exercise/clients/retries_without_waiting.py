"""The good client with one flaw: it retries at once, whatever Retry-After says."""

from tests.exercise.clients.good import Policy, main

if __name__ == "__main__":
    raise SystemExit(main(Policy(first_backoff=0.0, honour_retry_after=False)))
