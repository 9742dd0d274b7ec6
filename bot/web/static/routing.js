// Where a typed message goes. The format picker applies to draft prompts only, so the
// page needs to know a prompt from a command or a dropped link: commands and links go to
// POST /api/message exactly as typed (the server's parser, bot/chat/commands.py, runs
// them); a plain prompt goes to POST /api/draft with the picked format. This mirrors
// parse()'s first two rules only, and tests/e2e/test_web_draft.py runs both over the
// same texts, so a command added there without being added here fails a test.

// bot/chat/commands.py: COMMANDS and their aliases (start, add, remove).
export const COMMAND_WORDS = [
  "draft", "ingest", "sources", "forget", "search", "status", "cancel", "train", "models",
  "recrawl", "schedules", "pause", "resume", "run", "help", "start", "add", "remove",
];
const URL = /(?:https?:\/\/|www\.)[^\s<>"'|]+/gi;
const LINK_DROP_MAX_WORDS = 4; // a link with a short remark ("great read: <url>")

export function isPlainPrompt(message) {
  const text = message.trim();
  const first = text.split(" ")[0].toLowerCase();
  if (first.startsWith("/")) return false; // a /command, known or not: the server says
  if (COMMAND_WORDS.includes(first.split("@")[0])) return false;
  const links = text.match(URL) || [];
  const words = text.replace(URL, " ").split(/\s+/).filter(Boolean);
  return !(links.length && words.length <= LINK_DROP_MAX_WORDS);
}
