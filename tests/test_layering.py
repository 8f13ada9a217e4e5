"""The package layering the README describes, checked on the source.

  utils -> data, bijectors -> models -> training, sits, classifiers
        -> analysis -> experiments -> configurables (every package's gin)

A module may import its own package and packages of lower layers only, and
imports of tfp_flows modules sit at the top of their file (a deferred
import is how a cycle hides). Imports inside functions are counted too.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / 'tfp_flows'

LAYERS = {
    'utils': 0,
    'data': 1,
    'bijectors': 1,
    'models': 2,
    'training': 3,
    'sits': 3,
    'classifiers': 3,
    'analysis': 4,
    'ood': 4,
    'experiments': 5,
    'configurables': 6,
    '__init__': 6,
}

# Third-party imports that may stay inside a function, and why.
DEFERRED_OK = {
    # Choosing matplotlib's backend on import would change it for every
    # program that imports tfp_flows.analysis.
    ('analysis/figures.py', 'matplotlib'),
    ('analysis/figures.py', 'matplotlib.pyplot'),
}


def _modules():
  return sorted(p for p in PACKAGE.rglob('*.py'))


def _unit(path):
  """The layering unit of a file: its top-level package or module name."""
  parts = path.relative_to(PACKAGE).parts
  return parts[0] if len(parts) > 1 else path.stem


def _imports(path):
  """`(target module, line, at top level)` of every import in `path`."""
  tree = ast.parse(path.read_text(), filename=str(path))
  top_level = {id(node) for node in tree.body}
  package = '.'.join(('tfp_flows',) + path.relative_to(PACKAGE).parts[:-1])
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      targets = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      if node.level:
        base = package.split('.')[:len(package.split('.')) - node.level + 1]
        module = '.'.join(base + ([node.module] if node.module else []))
      else:
        module = node.module
      # `from tfp_flows import data` imports the package `tfp_flows.data`.
      targets = [f'{module}.{alias.name}' if module == 'tfp_flows' else module
                 for alias in node.names]
    else:
      continue
    for target in targets:
      yield target, node.lineno, id(node) in top_level


def test_every_package_has_a_layer():
  units = {_unit(p) for p in _modules()}
  assert units <= set(LAYERS), (
      f'place {sorted(units - set(LAYERS))} in LAYERS (and the README)')


@pytest.mark.parametrize('path', _modules(),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_lower_layers_at_top_of_file(path):
  unit = _unit(path)
  relative = str(path.relative_to(PACKAGE))
  problems = []
  for target, line, top in _imports(path):
    if target.startswith('tfp_flows.'):
      other = target.split('.')[1]
      if other != unit and LAYERS.get(other, 99) >= LAYERS[unit]:
        problems.append(f'{relative}:{line} imports {target} (layer '
                        f'{LAYERS.get(other)}) from layer {LAYERS[unit]}')
      if not top:
        problems.append(f'{relative}:{line} imports {target} inside a '
                        'function or block')
    elif not top and (relative, target) not in DEFERRED_OK:
      problems.append(f'{relative}:{line} defers `import {target}`; move it '
                      'to the top or list it, with the reason, in DEFERRED_OK')
  assert not problems, '\n'.join(problems)


def test_the_check_sees_a_violation(tmp_path, monkeypatch):
  # The rule must be able to fail: a models module importing training.
  fake = tmp_path / 'tfp_flows'
  (fake / 'models').mkdir(parents=True)
  bad = fake / 'models' / 'bad.py'
  bad.write_text('import os\n\n\ndef f():\n  from tfp_flows.training import '
                 'trainer\n  import json\n')
  monkeypatch.setattr(__import__(__name__), 'PACKAGE', fake)
  with pytest.raises(AssertionError) as failure:
    test_imports_only_lower_layers_at_top_of_file(bad)
  message = str(failure.value)
  assert 'models/bad.py:5 imports tfp_flows.training (layer 3)' in message
  assert 'inside a function' in message
  assert 'defers `import json`' in message
