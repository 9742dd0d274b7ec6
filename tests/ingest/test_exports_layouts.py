"""The platforms' export layouts the test_exports_* modules build zips from (no tests of
its own; named so it sits with them). Each follows the platform's documented export,
trimmed to a few posts."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

Members = dict[str, str | bytes]


def write_zip(path: Path, members: Mapping[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


# --- LinkedIn: Settings → Data privacy → Get a copy of your data ------------------------

LINKEDIN_PROFILE = (
    "First Name,Last Name,Maiden Name,Address,Birth Date,Headline,Summary,Industry,"
    "Zip Code,Geo Location,Twitter Handles,Websites,Instant Messengers\r\n"
    'Ann,Lee,,,,"Staff engineer, writing about systems",,Software Development,,'
    '"Lisbon, Portugal",[annlee],,\r\n'
)
# A post with a multi-line commentary holding doubled quotes, a bare repost (no
# commentary) and a repost with the owner's thoughts.
LINKEDIN_SHARES = (
    "Date,ShareLink,ShareCommentary,SharedUrl,MediaUrl,Visibility\r\n"
    "2023-05-04 14:03:11,"
    "https://www.linkedin.com/feed/update/urn%3Ali%3Ashare%3A7060000000000000001,"
    '"Three things I learned shipping our search rewrite:\n'
    "\n"
    '1. Measure before you ""optimise"".\n'
    "2. Keep the old path behind a flag.\n"
    '3. Write the rollback first.",,,MEMBER_NETWORK\r\n'
    "2023-06-10 08:00:00,"
    "https://www.linkedin.com/feed/update/urn%3Ali%3Ashare%3A7060000000000000002,"
    ",https://example.com/someone-elses-post,,MEMBER_NETWORK\r\n"
    "2023-07-01 09:30:00,"
    "https://www.linkedin.com/feed/update/urn%3Ali%3AugcPost%3A7060000000000000003,"
    '"Worth reading, especially the part on queues.",https://example.com/queues,,PUBLIC\r\n'
)
LINKEDIN_ARTICLE = """<html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<title>Why we rewrote search</title><style>body { margin: 0 auto; width: 744px; }</style></head>
<body>
  <img src="https://media.licdn.com/mediaD4D12AQFX3i" alt="" title="" />
  <h1><a href="https://www.linkedin.com/pulse/why-we-rewrote-search-ann-lee-abc1f">Why we rewrote search</a></h1>
  <p class="created">Created on 2023-08-15 09:41</p>
  <p class="published">Published on 2023-08-15 10:02</p>
  <div><p>Our search was <strong>slow</strong> &amp; hard to change.</p><h3>What we kept</h3><p>The ranking tests.</p></div>
</body></html>
"""  # noqa: E501
LINKEDIN_DRAFT = """<html><head><title>Notes on hiring</title></head><body>
  <h1>Notes on hiring</h1>
  <p class="created">Created on 2023-09-01 12:00</p>
  <div><p>Half an idea.</p></div>
</body></html>
"""
LINKEDIN_UNLINKED = """<html><head><title>On code review</title></head><body>
  <h1>On code review</h1>
  <p class="created">Created on 2023-10-02 07:50</p>
  <p class="published">Published on 2023-10-02 08:00</p>
  <div><p>Review the design, not the commas.</p></div>
</body></html>
"""


def linkedin_members() -> Members:
    return {
        "Profile.csv": LINKEDIN_PROFILE,
        "Shares.csv": LINKEDIN_SHARES,
        "Connections.csv": "Notes:\nFirst Name,Last Name,URL\n",
        "Articles/Articles/2023-08-15 09:41:00.0-Why-we-rewrote-search.html": LINKEDIN_ARTICLE,
        "Articles/Articles/2023-09-01 12:00:00.0-Notes-on-hiring.html": LINKEDIN_DRAFT,
        "Articles/Articles/2023-10-02 07:50:00.0-On-Code-Review.html": LINKEDIN_UNLINKED,
    }


# --- Medium: Settings → Security and apps → Download your information -------------------


def medium_post(
    *,
    title: str,
    canonical: str,
    published: str,
    body: str,
    subtitle: str = "",
    author: str = "Ann Lee",
) -> str:
    """A post file as Medium's export writes it (its h-entry markup and classes)."""
    return f"""<!DOCTYPE html><html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><title>{title}</title><style>
      * {{ font-family: Georgia, Cambria, "Times New Roman", Times, serif; }}
    </style></head><body><article class="h-entry">
<header>
<h1 class="p-name">{title}</h1>
</header>
<section data-field="subtitle" class="p-summary">
{subtitle}
</section>
<section data-field="body" class="e-content">
<section name="4d2a" class="section section--body section--first section--last"><div class="section-divider"><hr class="section-divider"></div><div class="section-content"><div class="section-inner sectionLayout--insetColumn">{body}</div></div></section>
</section>
<footer><p>By <a href="https://medium.com/@annlee" class="p-author h-card">{author}</a> on <a href="https://medium.com/p/{canonical.rsplit("-", 1)[-1]}"><time class="dt-published" datetime="{published}">a date</time></a>.</p><p><a href="{canonical}" class="p-canonical">Canonical link</a></p><p>Exported from <a href="https://medium.com">Medium</a> on May 1, 2024.</p></footer></article></body></html>
"""  # noqa: E501


MEDIUM_SHIPPING = medium_post(
    title="Shipping small changes",
    subtitle="Why our team ships ten times a day",
    canonical="https://medium.com/@annlee/shipping-small-changes-1a2b3c4d5e6f",
    published="2019-03-03T20:19:14.123Z",
    body=(
        '<h3 name="8f1e" class="graf graf--h3 graf--leading graf--title">Shipping small'
        " changes</h3>"
        '<h4 name="b2c1" class="graf graf--h4 graf-after--h3 graf--subtitle">Why our team'
        " ships ten times a day</h4>"
        '<p name="c3d4" class="graf graf--p graf-after--h4">Small changes are easy to review'
        " &amp; easy to undo.</p>"
        '<pre name="d5e6" class="graf graf--pre graf-after--p">git commit -m "one thing"\n'
        "git push</pre>"
        '<div name="e7f8" class="graf graf--mixtapeEmbed graf-after--pre"><a'
        ' href="https://example.com/other" class="markup--anchor markup--mixtapeEmbed-anchor">'
        "<strong>Someone else’s article</strong><br><em>Their blurb…</em>example.com</a></div>"
        '<p name="f9a0" class="graf graf--p graf-after--mixtapeEmbed graf--trailing">Ship the'
        " smallest thing that works.</p>"
    ),
)
MEDIUM_RESPONSE = medium_post(
    title="Great point, but what about latency?",
    canonical="https://medium.com/@annlee/great-point-but-what-about-latency-abcdef123456",
    published="2020-01-05T08:00:00.000Z",
    body=(
        '<p name="a1b2" class="graf graf--p graf--leading graf--trailing">Great point, but'
        " what about latency?</p>"
    ),
)
MEDIUM_DRAFT = medium_post(
    title="Unfinished thoughts",
    canonical="https://medium.com/@annlee/unfinished-thoughts-9f8e7d6c5b4a",
    published="2021-01-01T00:00:00.000Z",
    body="<p>Not ready.</p>",
)
MEDIUM_PROFILE = """<!DOCTYPE html><html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><title>Profile</title></head>
<body><article class="h-card"><header><h1>Profile</h1></header><section>
<img class="u-photo" src="https://cdn-images-1.medium.com/fit/c/400/400/1*abc.jpeg">
<ul><li>Username: <a class="u-url" href="https://medium.com/@annlee">@annlee</a></li>
<li>Display name: <span class="p-name">Ann Lee</span></li>
<li>Email address: ann@example.com</li><li>Medium user ID: 1a2b3c4d5e6f</li></ul>
</section></article></body></html>
"""  # noqa: E501


def medium_members() -> Members:
    return {
        "README.html": "<html><body>Your Medium data</body></html>",
        "profile/profile.html": MEDIUM_PROFILE,
        "posts/2019-03-03_Shipping-small-changes-1a2b3c4d5e6f.html": MEDIUM_SHIPPING,
        "posts/2020-01-05_Great-point--but-what-about-latency--abcdef123456.html": MEDIUM_RESPONSE,
        "posts/draft_Unfinished-thoughts-9f8e7d6c5b4a.html": MEDIUM_DRAFT,
        "posts/draft_Another-draft-0a0b0c0d0e0f.html": MEDIUM_DRAFT,
        "claps/claps-0001.html": "<html><body><ul></ul></body></html>",
    }


# --- Substack: Settings → Exports ------------------------------------------------------

SUBSTACK_POSTS = (
    "post_id,post_date,is_published,email_sent_at,inbox_sent_at,type,audience,title,"
    "subtitle,podcast_url\n"
    "140001.why-i-write,2024-03-10T12:00:00.000Z,true,2024-03-10T12:00:05.000Z,,newsletter,"
    'everyone,Why I write,"On habits, and keeping them",\n'
    "140002.rough-idea,,false,,,newsletter,everyone,Rough idea,,\n"
    "140003.paid-deep-dive,2024-04-02T08:30:00.000Z,true,2024-04-02T08:30:00.000Z,,newsletter,"
    "only_paid,A paid deep dive,,\n"
)
SUBSTACK_WHY = (
    "<p>I write to think.</p>"
    '<div class="subscription-widget-wrap" data-attrs="{}"><div class="subscription-widget'
    ' show-subscribe"><div class="preamble"><p>Thanks for reading! Subscribe for free to'
    ' receive new posts.</p></div><form class="subscription-widget-subscribe"><input'
    ' type="email" class="email-input" name="email" placeholder="Type your email…"><input'
    ' type="submit" class="button primary" value="Subscribe"></form></div></div>'
    "<h2>Habits</h2><p>Every morning, 300 words.</p>"
    '<p class="button-wrapper" data-attrs="{}"><a class="button primary"'
    ' href="https://annlee.substack.com/subscribe?"><span>Subscribe now</span></a></p>'
)
SUBSTACK_PAID = (
    '<p>Queues first.</p><div class="paywall-jump" data-component-name="PaywallToDOM"></div>'
    "<p>Then the rest.</p>"
)


def substack_members() -> Members:
    return {
        "posts.csv": SUBSTACK_POSTS,
        "posts/140001.why-i-write.html": SUBSTACK_WHY,
        "posts/140001.why-i-write.opens.csv": "email,timestamp\n",
        "posts/140002.rough-idea.html": "<p>Half an idea.</p>",
        "posts/140003.paid-deep-dive.html": SUBSTACK_PAID,
        "email_list.annlee.csv": "email,active_subscription,expiry,plan\n",
    }


# --- X: Settings → Your account → Download an archive of your data ---------------------

X_ACCOUNT = """window.YTD.account.part0 = [
  {
    "account" : {
      "email" : "ann@example.com",
      "createdVia" : "web",
      "username" : "annlee",
      "accountId" : "1234567890",
      "createdAt" : "2012-01-01T10:00:00.000Z",
      "accountDisplayName" : "Ann Lee"
    }
  }
]"""
# A 3-tweet self-thread (listed out of order; the last tweet with the old-style @self
# prefix and a photo), a retweet, a reply to someone else and a quote tweet.
X_TWEETS = """window.YTD.tweets.part0 = [
  {
    "tweet" : {
      "id_str" : "1500000000000000003",
      "full_text" : "@annlee Finally: practise it. https://t.co/pic1",
      "created_at" : "Wed Mar 02 09:05:00 +0000 2022",
      "display_text_range" : ["8", "29"],
      "in_reply_to_status_id_str" : "1500000000000000002",
      "in_reply_to_user_id_str" : "1234567890",
      "in_reply_to_screen_name" : "annlee",
      "entities" : {"urls" : [], "user_mentions" : [],
        "media" : [{"url" : "https://t.co/pic1", "expanded_url" : "https://x.com/annlee/status/1500000000000000003/photo/1"}]},
      "retweeted" : false, "favorite_count" : "2", "retweet_count" : "0"
    }
  },
  {
    "tweet" : {
      "id_str" : "1500000000000000001",
      "full_text" : "Thread on rollbacks 🧵\\n\\nWrite the rollback first.",
      "created_at" : "Wed Mar 02 09:00:00 +0000 2022",
      "display_text_range" : ["0", "49"],
      "entities" : {"urls" : []},
      "retweeted" : false, "favorite_count" : "40", "retweet_count" : "7"
    }
  },
  {
    "tweet" : {
      "id_str" : "1500000000000000002",
      "full_text" : "Then test it &amp; time it: https://t.co/abc123",
      "created_at" : "Wed Mar 02 09:02:00 +0000 2022",
      "display_text_range" : ["0", "47"],
      "in_reply_to_status_id_str" : "1500000000000000001",
      "in_reply_to_user_id_str" : "1234567890",
      "in_reply_to_screen_name" : "annlee",
      "entities" : {"urls" : [{"url" : "https://t.co/abc123", "expanded_url" : "https://example.com/rollbacks", "display_url" : "example.com/rollbacks"}]},
      "retweeted" : false, "favorite_count" : "5", "retweet_count" : "0"
    }
  },
  {
    "tweet" : {
      "id_str" : "1500000000000000010",
      "full_text" : "RT @bob: Great talk on queues https://t.co/zzz",
      "created_at" : "Thu Mar 03 10:00:00 +0000 2022",
      "entities" : {"urls" : [{"url" : "https://t.co/zzz", "expanded_url" : "https://example.com/talk"}]},
      "retweeted" : false, "favorite_count" : "0", "retweet_count" : "3"
    }
  },
  {
    "tweet" : {
      "id_str" : "1500000000000000020",
      "full_text" : "@bob @carol Agreed &gt; disagreed, mostly.",
      "created_at" : "Fri Mar 04 11:30:00 +0000 2022",
      "display_text_range" : ["11", "42"],
      "in_reply_to_status_id_str" : "1400000000000000000",
      "in_reply_to_user_id_str" : "999",
      "in_reply_to_screen_name" : "bob",
      "entities" : {"urls" : []},
      "retweeted" : false, "favorite_count" : "1", "retweet_count" : "0"
    }
  },
  {
    "tweet" : {
      "id_str" : "1500000000000000030",
      "full_text" : "The best explanation of backpressure I know https://t.co/q1",
      "created_at" : "Sat Mar 05 18:00:00 +0000 2022",
      "display_text_range" : ["0", "59"],
      "entities" : {"urls" : [{"url" : "https://t.co/q1", "expanded_url" : "https://twitter.com/carol/status/1450000000000000000"}]},
      "retweeted" : false, "favorite_count" : "12", "retweet_count" : "1"
    }
  }
]"""  # noqa: E501


def x_members() -> Members:
    return {
        "Your archive.html": "<html><body>Your archive</body></html>",
        "data/account.js": X_ACCOUNT,
        "data/tweets.js": X_TWEETS,
        "data/tweets_media/1500000000000000003-pic1.jpg": b"\xff\xd8\xff\xe0 not a real jpeg",
        "data/like.js": "window.YTD.like.part0 = []",
    }


LAYOUTS = {
    "linkedin": linkedin_members,
    "medium": medium_members,
    "substack": substack_members,
    "x": x_members,
}
