"""The README's example runs as written, and its two set-up commands stay what CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _example() -> str:
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- readme-example:start -->")[1].split("<!-- readme-example:end -->")[0]
    return re.search(r"```python\n(.*?)```", block, re.S).group(1)


def test_readme_example_runs(capsys):
    exec(compile(_example(), "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "stationary loss" in out and "diverged particles: 0" in out


def test_ci_runs_the_readme_test_command():
    text = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", text, re.S)
    assert len(commands) == 2, commands
    test_cmd = commands[1].strip()
    assert "pytest" in test_cmd
    assert test_cmd in (ROOT / ".ci" / "run").read_text()
