"""`python -m operator_cli` runs dpctl without the console script (e.g. before bootstrap)."""

from operator_cli.app import main

if __name__ == "__main__":
    main()
