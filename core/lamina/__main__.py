"""``python -m lamina``: the same CLI as ``lamina``; remote backends launch
``python -m lamina task ...`` through it."""

from lamina.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
