"""``python -m mockserver.exercise ...``: the exercise command on its own."""

from mockserver.exercise.cli import main

raise SystemExit(main())
