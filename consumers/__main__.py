"""`python -m consumers [balances|settlements|audit|all]`: same as `payments consume`."""

from projections.cli import consume

if __name__ == "__main__":
    consume(prog_name="python -m consumers")
