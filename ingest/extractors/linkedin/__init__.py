"""LinkedIn live: a member's posts, read through the owner's own LinkedIn session.

LinkedIn has no public API for a member's posts. `linkedin-api` (the `linkedin` extra)
talks to Voyager, the JSON API LinkedIn's web pages use, signed in as the owner. LinkedIn
distrusts automated sessions, so this stays slow and polite: a pause of 2-5 s before every
request (the library's own pacing), one crawl at a time per process, only new posts on a
recrawl, and every refusal says how to import the data export instead, which always works.

`credentials` holds how a crawl signs in (and what each refusal says), `session` the
signed-in session (pacing, login, the kept session, the linkedin-api client), `posts`
LinkedIn's links and feed elements read into documents, and `extractor` the crawl itself.
Importing this package does not import linkedin-api: only a crawl does.
"""

from __future__ import annotations

from ingest.extractors.linkedin.credentials import (
    ENV_COOKIES,
    ENV_PASSWORD,
    ENV_USERNAME,
    LinkedInCredentials,
)
from ingest.extractors.linkedin.extractor import LinkedInExtractor
from ingest.extractors.linkedin.posts import (
    linkedin_post_time,
    linkedin_post_url,
    linkedin_profile_id,
)

__all__ = [
    "ENV_COOKIES",
    "ENV_PASSWORD",
    "ENV_USERNAME",
    "LinkedInCredentials",
    "LinkedInExtractor",
    "linkedin_post_time",
    "linkedin_post_url",
    "linkedin_profile_id",
]
