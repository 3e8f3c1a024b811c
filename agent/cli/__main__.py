"""`python -m agent.cli`: the `ragloop` command."""

from agent.cli.app import main

if __name__ == "__main__":
    main()
