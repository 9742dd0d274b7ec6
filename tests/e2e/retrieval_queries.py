"""A small labelled query set over the real fixture pages and the bundled sample.

Each query names the one document that answers it. Half are keyword-style (names,
numbers, rare terms: BM25's strength), half are paraphrases that share few words with the
text (the embedder's strength); hybrid search should do at least as well as either.
"""

# (query, fixture page name or sample file name)
QUERIES: list[tuple[str, str]] = [
    # keyword-style
    ("Python 3.6.0 release", "blog.python.org.html"),
    ("Matt Bors Millennials cartoon CNN", "boingboing.net.millenials.html"),
    ("O'Reilly webcast broken demo test failure", "caktusgroup.com.django.html"),
    ("Creative Commons copyright licenses", "creativecommons.org.html"),
    ("Laurens van der Maaten Geoffrey Hinton t-SNE", "en.wikipedia.org.tsne.html"),
    ("Erin Spiceland SpaceX", "github.blog.spiceland.html"),
    ("Mercurial 5.2 Python 3 port", "gregoryszorc.com.python3.html"),
    ("Meta outage Facebook Instagram Messenger", "kulu-media.com.meta-outage.html"),
    ("simdjson nlohmann json benchmark", "lemire.me.json.html"),
    ("Redonda island goats", "nationalgeographic.co.uk.goats.html"),
    ("FAST Five-hundred-meter Aperture Spherical Radio Telescope", "nature.com.telescope.html"),
    ("birch tar flint flake Neanderthal", "phys.org.tool.html"),
    ("pyenv virtualenv pipenv conda", "pluralsight.com.python.html"),
    ("Rhodium Group emissions coal 2019", "salon.com.emissions.html"),
    ("Rust borrow checker most loved language survey", "stackoverflow.com.rust.html"),
    ("SQLite WAL mode nightly backup", "04-sqlite-is-enough.md"),
    ("EXL2 exllamav2 LoRA adapters", "06-gpu-budget.md"),
    ("recall@5 hybrid search BM25", "02-retrieval-before-finetuning.md"),
    # paraphrases
    ("a new version of a popular programming language came out", "blog.python.org.html"),
    (
        "young people are unfairly blamed for being lazy and self-absorbed",
        "boingboing.net.millenials.html",
    ),
    ("what to do when your live coding presentation goes wrong", "caktusgroup.com.django.html"),
    ("letting people reuse your creative work legally", "creativecommons.org.html"),
    (
        "projecting high dimensional data into two dimensions for plotting",
        "en.wikipedia.org.tsne.html",
    ),
    (
        "a self-taught engineer from rural Georgia who works on rockets",
        "github.blog.spiceland.html",
    ),
    (
        "lessons from migrating a large version control codebase to a new language version",
        "gregoryszorc.com.python3.html",
    ),
    (
        "social networks went down worldwide and users could not log in",
        "kulu-media.com.meta-outage.html",
    ),
    ("how fast can you read structured data files in C++", "lemire.me.json.html"),
    (
        "an island's plants and lizards recover after invasive animals are removed",
        "nationalgeographic.co.uk.goats.html",
    ),
    (
        "the world's biggest radio dish in China invites foreign scientists",
        "nature.com.telescope.html",
    ),
    ("archaic humans used glue on stone cutting implements", "phys.org.tool.html"),
    (
        "keeping separate installs and dependencies for different projects",
        "pluralsight.com.python.html",
    ),
    ("America's greenhouse gas output fell slightly last year", "salon.com.emissions.html"),
    ("why developers adore a memory-safe systems language", "stackoverflow.com.rust.html"),
    ("start with a tiny model before paying for a big one", "01-shipping-small-models.md"),
    ("being paged at night made me write more clearly", "03-on-call.md"),
    ("write down what good looks like with real examples before tuning", "05-evals.md"),
    ("should I fine-tune or use retrieval?", "02-retrieval-before-finetuning.md"),
    ("an idle graphics card wastes the most money", "06-gpu-budget.md"),
]
