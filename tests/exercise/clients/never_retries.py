"""The good client with one flaw: any answer that is not a success ends the job."""

from tests.exercise.clients.good import Policy, main

if __name__ == "__main__":
    raise SystemExit(main(Policy(attempts=1)))
