"""Slack: the `/twin` slash command, mentions and DMs, drafts streamed into a message and
settled as Block Kit with 👍 👎 🔁 ✏️ buttons.

Set TWIN_SLACK__BOT_TOKEN, and TWIN_SLACK__SIGNING_SECRET (HTTP events at
`/slack/events` on `slack.port`) or TWIN_SLACK__APP_TOKEN (Socket Mode). The Slack app
needs the bot scopes `commands`, `chat:write`, `app_mentions:read`, `im:history`,
`channels:history` (replies in a draft's thread are stored as edits), and the events
`app_mention`, `message.im`, `message.channels`; interactivity on for the buttons.

The adapter is `bot.chat.slack.adapter` (`SlackAdapter`, `start_slack`). Nothing is
imported here, so that importing one submodule does not load the others.
"""
