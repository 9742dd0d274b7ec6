"""The Telegram front end (python-telegram-bot): `start_telegram` is what `serve` calls."""
