"""`python -m payments.cli`: the same as the `payments` script."""

from payments.cli.root import main

if __name__ == "__main__":
    main()
