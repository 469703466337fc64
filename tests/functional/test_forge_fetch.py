"""The agent fetches a pull request's head where each forge keeps it in the target repository:
GitLab `refs/merge-requests/N/head`, Gitea/Forgejo (and GitHub) `refs/pull/N/head`. The commit is
reachable from that ref only, as a fork's is, so nothing but the forge's ref can bring it; the
forge writes the ref itself, here with `git update-ref` in a local origin."""
import subprocess

import pytest

from agent.source import Refused, Source, Stale
from tests.realparts import GitRepo

pytestmark = pytest.mark.functional
REFS = {"gitlab": "refs/merge-requests/7/head", "gitea": "refs/pull/3/head", "forgejo": "refs/pull/3/head",
        "github": "refs/pull/3/head"}


def forge_writes(repo: GitRepo, ref: str, text: str) -> str:
    """Commit `text` off the main branch and leave it reachable from `ref` only, in the origin."""
    repo.git("checkout", "-q", "--detach", "main")
    repo.write({"page.txt": text + "\n"})
    repo.git("add", "-A")
    repo.git("commit", "-qm", text)
    sha = repo.git("rev-parse", "HEAD")
    repo.git("push", "-q", "origin", "HEAD:refs/heads/incoming")
    for args in (("update-ref", ref, sha), ("update-ref", "-d", "refs/heads/incoming")):
        subprocess.run(["git", "-C", str(repo.origin), *args], check=True)
    repo.git("checkout", "-q", "main")
    return sha


@pytest.mark.parametrize("forge", sorted(REFS))
def test_the_head_of_a_request_is_fetched_from_the_forge_ref_then_again_after_new_commits(tmp_path, forge):
    repo, ref, lines = GitRepo(tmp_path / "site"), REFS[forge], []
    repo.write({"page.txt": "main\n"})
    repo.commit_and_tag("main")
    first = forge_writes(repo, ref, f"{forge} one")
    branches = subprocess.run(["git", "-C", str(repo.origin), "branch", "--contains", first], capture_output=True,
                              text=True, check=True).stdout
    assert branches.strip() == ""  # on no branch: only the forge's ref holds it
    source = Source(tmp_path / "agent")
    tree, sha = source.checkout(str(repo.origin), ref, first, "job-1", lines.append)
    assert sha == first and (tree / "page.txt").read_text() == f"{forge} one\n"
    second = forge_writes(repo, ref, f"{forge} two")  # new commits: the forge moves the ref
    tree, sha = source.checkout(str(repo.origin), ref, second, "job-2", lines.append)
    assert sha == second and (tree / "page.txt").read_text() == f"{forge} two\n"
    assert any("incremental" in line for line in lines)  # the second came through the existing mirror
    with pytest.raises(Refused, match=f"commit {'0' * 39}1 is not on {ref}"):
        source.checkout(str(repo.origin), ref, "0" * 39 + "1", "job-3", lines.append)


def mirror_refs(source: Source) -> list[str]:
    [mirror] = list(source.mirrors.iterdir())
    return subprocess.run(["git", "-C", str(mirror), "for-each-ref", "--format=%(refname)"], capture_output=True,
                          text=True, check=True).stdout.split()


def test_a_fork_commit_the_mirror_holds_is_refused_as_main(tmp_path):
    """The attack: a fork's pull request was fetched (refs/pull/3/head), then a signed push names that
    commit as `main`. The mirror holds it, but main does not reach it."""
    repo, lines = GitRepo(tmp_path / "site"), []
    repo.write({"page.txt": "main\n"})
    main = repo.commit_and_tag("main")
    fork = forge_writes(repo, "refs/pull/3/head", "from a fork")
    source = Source(tmp_path / "agent")
    assert source.checkout(str(repo.origin), "refs/pull/3/head", fork, "preview", lines.append)[1] == fork
    with pytest.raises(Refused, match=f"commit {fork} is not on refs/heads/main \\(its tip is {main}"):
        source.checkout(str(repo.origin), "refs/heads/main", fork, "production", lines.append)
    assert not (source.worktrees / "production").exists()


def test_only_the_deployed_ref_is_fetched_and_an_older_commit_of_it_still_deploys(tmp_path):
    repo, lines = GitRepo(tmp_path / "site"), []
    repo.write({"page.txt": "one\n"})
    one = repo.commit_and_tag("one", tag="v1")
    repo.write({"page.txt": "two\n"})
    repo.commit_and_tag("two")
    forge_writes(repo, "refs/pull/3/head", "from a fork")
    source = Source(tmp_path / "agent")
    tree, sha = source.checkout(str(repo.origin), "refs/heads/main", one, "job-1", lines.append)
    assert sha == one and (tree / "page.txt").read_text() == "one\n"  # reachable from main: a redeploy
    assert mirror_refs(source) == ["refs/heads/main"]  # not refs/pull/*, not the tags
    assert source.checkout(str(repo.origin), "refs/tags/v1", "", "job-2", lines.append)[1] == one
    assert sorted(mirror_refs(source)) == ["refs/heads/main", "refs/tags/v1"]


@pytest.mark.parametrize("ref", ["main", "refs/heads/*", "refs/heads/a..b", "HEAD"])
def test_a_ref_that_is_not_a_full_ref_name_is_refused(tmp_path, ref):
    repo = GitRepo(tmp_path / "site")
    sha = repo.commit_and_tag("one")
    with pytest.raises(Refused, match="not a full ref name"):
        Source(tmp_path / "agent").checkout(str(repo.origin), ref, sha, "job", [].append)


def test_a_push_older_than_what_serves_is_stale_unless_the_branch_was_rewound_to_it(tmp_path):
    repo, lines = GitRepo(tmp_path / "site"), []
    one, two, three = (repo.commit_and_tag(text) for text in ("one", "two", "three"))
    source = Source(tmp_path / "agent")
    for old in (one, two):  # two serves, main has moved on to three: replays of one, or of two itself
        with pytest.raises(Stale, match=f"the app serves {two}, and commit {old} is it or an ancestor of it, "
                                        f"while refs/heads/main has moved on to {three}"):
            source.checkout(str(repo.origin), "refs/heads/main", old, "replayed", lines.append, serving=two)
    unknown = "f" * 40  # a serving commit this mirror never saw: it cannot tell, says so, and deploys
    assert source.checkout(str(repo.origin), "refs/heads/main", one, "other", lines.append, serving=unknown)[1] == one
    assert any("which this mirror does not hold" in line for line in lines)
    assert source.checkout(str(repo.origin), "refs/heads/main", three, "new", lines.append, serving=two)[1] == three
    repo.git("push", "-q", "-f", "origin", f"{one}:refs/heads/main")  # a force push rewinds main to one
    assert source.checkout(str(repo.origin), "refs/heads/main", one, "rewound", lines.append, serving=three)[1] == one
