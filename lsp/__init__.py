"""gscen's language server: editor features over the front end."""
