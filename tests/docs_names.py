#!/usr/bin/env python3
"""The user-facing docs name only what exists: README.md and docs/*.md (docs/config.md is checked by configs_valid).

Asserts that `dfer --help` names every subcommand (`dfer data preview`) and, for each doc:
  - every `dfer CMD` in code (inline spans and fenced blocks) is a command `dfer --help` lists;
  - every option after `dfer CMD` on the same code line is in `dfer CMD --help` (`dfer data`'s subcommands
    share one help);
  - every option standing alone in a code span (`--hang-minutes`) is in the --help of a dfer command the same
    paragraph or its section heading names; where none is named, of some dfer command, unless the paragraph
    is about another tool (mpirun, srun, sbatch, ctest, ...);
  - every section.key (in code or prose) is a key `dfer config` prints, or a [matrix] key a matrix file accepts
    (asked of `dfer matrix --list` with a one-key matrix file: the parser itself, no list kept here);
  - every repository path in a code span exists (a built program: its source, NAME.c, exists; results/NAME:
    a shipped matrix is named NAME, so a run of it writes there).
Prints each problem as FILE:LINE and exits 1 when there is one.
usage: docs_names.py DFER SOURCE_DIR
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

dfer, src = sys.argv[1], sys.argv[2]


def run(*args):
    p = subprocess.run([dfer, *args], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


# the commands: the indented lines of `dfer --help` under "commands:"
rc, top = run('--help')
assert rc == 0, f'dfer --help: exit {rc}'
commands = set(re.findall(r'^  ([a-z]+)  ', top.split('commands:', 1)[1], re.M))
assert {'train', 'matrix', 'plan'} <= commands, f'dfer --help lists no commands: {top[:200]}'
helps = {}
for c in commands:
    rc, helps[c] = run(c, '--help')
    assert rc == 0, f'dfer {c} --help: exit {rc}'

# `dfer --help` names each subcommand a command's own help lists (dfer data check, dfer data preview), as the README's
# command table does
for c in sorted(commands):
    if 'subcommands:' not in helps[c]:
        continue
    overview = re.search(r'^  ' + c + r'  .*$', top, re.M).group(0)
    for sub in re.findall(r'^  ([a-z]+)  ', helps[c].split('subcommands:', 1)[1], re.M):
        if f'dfer {c} {sub}' not in overview:
            print(f'dfer --help: the line of {c} does not name dfer {c} {sub}: {overview.strip()}')
            sys.exit(1)

# the configuration keys: `dfer config` prints every one under its [section]
config_keys, section = set(), None
for line in run('config')[1].splitlines():
    if m := re.match(r'\[(\w+)\]$', line):
        section = m.group(1)
    elif m := re.match(r'(\w+) =', line):
        config_keys.add(f'{section}.{m.group(1)}')
sections = {k.split('.')[0] for k in config_keys} | {'matrix'}
tmp_dir = tempfile.TemporaryDirectory(prefix='dfer-docs-names-')
tmp = tmp_dir.name
matrix_key_known = {}


def matrix_key_exists(name):
    """A one-key matrix file: the parser says 'unknown key matrix.NAME' for a key it does not take (a bad value or a
    missing matrix.name is another error)."""
    if name not in matrix_key_known:
        path = os.path.join(tmp, 'probe.ini')
        with open(path, 'w') as f:
            f.write(f'[matrix]\n{name} = 1\n')
        out = run('matrix', '--list', path)[1]
        matrix_key_known[name] = f'unknown key matrix.{name}' not in out
    return matrix_key_known[name]


def has_option(cmd, opt):
    return re.search(r'(?<![\w-])' + re.escape(opt) + r'(?![\w-])', helps[cmd]) is not None


FILE_SUFFIX = re.compile(r'\.(safetensors|jsonl|json|ini|txt|csv|md|pt|lock|png|mp4|c|h|cu|sh|py|gz)$')
REPO_PATH = re.compile(r'(?<![\w./$-])((?:src|docs|scripts|configs|jobs|tests|bench|kernels|mpi|results)/[\w./*-]*\w)')
# the shipped matrices' names: results/NAME is the folder a run of one writes (matrix --results's default)
matrix_names = {m.group(1) for f in glob.glob(os.path.join(src, 'configs', '**', '*.ini'), recursive=True)
                for m in re.finditer(r'^name *= *(\S+)', open(f, encoding='utf-8').read(), re.M)}
# a paragraph that names no dfer command but one of these is about its options (mpirun --oversubscribe)
OTHER_TOOLS = re.compile(r'\b(mpirun|srun|sbatch|Slurm|ctest|compute-sanitizer|test_cuda_ops|bench_torch|train_dp)\b')
OPTION = re.compile(r'(?<![\w-])(--?[a-z][a-z0-9-]*)')
problems = []
counts = dict(commands=0, options=0, lone_options=0, keys=0, paths=0)


def check_invocations(where, code, named):
    """`dfer CMD [SUB] ...` up to the end of the command (a pipe, ;, &&, a comment or another dfer)."""
    for m in re.finditer(r'\bdfer (\w+)((?:(?!\bdfer |\||&&|;| #).)*)', code):
        cmd, rest = m.group(1), m.group(2)
        if cmd[0].isupper() or cmd in ('was', 'itself'):  # prose: "dfer CMD", "this dfer was built ..."
            continue
        counts['commands'] += 1
        if cmd not in commands:
            problems.append(f'{where}: dfer {cmd}: no such command (dfer --help)')
            continue
        named.add(cmd)
        for opt in OPTION.findall(rest):
            if opt in ('--', '--help'):
                continue
            counts['options'] += 1
            if not has_option(cmd, opt):
                problems.append(f'{where}: dfer {cmd} {opt}: not an option of dfer {cmd} (dfer {cmd} --help)')


def check_keys(where, text):
    for m in re.finditer(r'(?<![\w./$-])([a-z]+)\.([a-z][a-z0-9_]*)(?![\w(/]|\.\w)', text):
        key, sec, name = m.group(0), m.group(1), m.group(2)
        if sec not in sections or FILE_SUFFIX.search(key) or len(name) == 1:  # model.x: a placeholder
            continue
        counts['keys'] += 1
        if sec == 'matrix' and key not in config_keys:
            if not matrix_key_exists(name):
                problems.append(f'{where}: {key}: a matrix file has no such key')
        elif key not in config_keys:
            problems.append(f'{where}: {key}: no such configuration key (dfer config)')


def check_paths(where, code):
    for m in REPO_PATH.finditer(code):
        path = m.group(1)
        if re.search(r'/[A-Z]+(/|$)', path):  # a placeholder: results/NAME
            continue
        counts['paths'] += 1
        if glob.glob(os.path.join(src, path)) or glob.glob(os.path.join(src, '**', os.path.basename(path) + '.c'),
                                                           recursive=True):
            continue
        if (m := re.fullmatch(r'results/([\w.-]+)', path)) and m.group(1) in matrix_names:
            continue
        problems.append(f'{where}: {path}: no such file or folder in the repository')


docs = [os.path.join(src, 'README.md')] + sorted(glob.glob(os.path.join(src, 'docs', '*.md')))
for doc in docs:
    if doc.endswith(os.path.join('docs', 'config.md')):  # generated; configs_valid compares it
        continue
    rel = os.path.relpath(doc, src)
    lines = open(doc, encoding='utf-8').read().splitlines()
    # paragraphs (blank-line separated; a fenced block is one) under their heading
    paragraphs, para, fence, heading = [], [], False, ''
    for n, line in enumerate(lines, 1):
        if line.startswith('```'):
            fence = not fence
            continue
        if fence:
            para.append((n, line, True))
            continue
        if line.startswith('#'):
            if para:
                paragraphs.append((heading, para))
            heading, para = line, []
        elif not line.strip():
            if para:
                paragraphs.append((heading, para))
            para = []
        else:
            para.append((n, line, False))
    if para:
        paragraphs.append((heading, para))
    # a fenced block of shell commands in the middle of a section counts with that section's paragraphs: the
    # heading's commands and those of each paragraph are what a lone option may belong to
    for heading, para in paragraphs:
        named = set()
        check_invocations(f'{rel} (heading)', ' '.join(re.findall(r'`([^`]+)`', heading)), named)
        lone = []
        for n, line, fenced in para:
            where = f'{rel}:{n}'
            check_keys(where, line)  # in prose too: "groups of matrix.ranks_per_job"
            code_parts = [line] if fenced else re.findall(r'`([^`]+)`', line)
            for code in code_parts:
                check_invocations(where, code, named)
                check_paths(where, code)
                if not fenced and re.fullmatch(r'--[a-z][a-z0-9-]*(?:[ =][^`]*)?', code):
                    lone.append((where, code.split()[0].split('=')[0]))
        text = ' '.join(line for _, line, _ in para)
        for where, opt in lone:
            if named:
                counts['lone_options'] += 1
                if not any(has_option(c, opt) for c in named):
                    problems.append(f'{where}: {opt}: an option of none of the commands this paragraph names '
                                    f'(dfer {", ".join(sorted(named))})')
            elif not OTHER_TOOLS.search(text):  # no command named: some dfer command's option
                counts['lone_options'] += 1
                if not any(has_option(c, opt) for c in commands):
                    problems.append(f'{where}: {opt}: an option of no dfer command')

tmp_dir.cleanup()
for p in problems:
    print(p)
summary = ', '.join(f'{v} {k}' for k, v in counts.items())
if problems:
    print(f'FAIL: {len(problems)} name(s) in the docs that dfer does not have ({summary} checked)')
    sys.exit(1)
print(f'docs name only what exists: {summary} checked in {len(docs) - 1} files')
