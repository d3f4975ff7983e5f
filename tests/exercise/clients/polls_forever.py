"""The good client with one flaw: it waits for the task however long it takes."""

from tests.exercise.clients.good import Policy, main

if __name__ == "__main__":
    raise SystemExit(main(Policy(deadline=None)))
