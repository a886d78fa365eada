"""`python -m scenario_lang.lsp`: start the language server (same options as `gscen lsp`)."""

from .server import main

if __name__ == "__main__":
    main()
