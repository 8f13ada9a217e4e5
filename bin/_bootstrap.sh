# shellcheck shell=bash
# Sourced (not run) by bin/test, bin/reproduce and friends:
#   source "$(dirname "${BASH_SOURCE[0]}")/_bootstrap.sh"
#
# Leaves the caller in the repo root with:
#   - .venv created (python3 -m venv) if missing or broken;
#   - the package installed editable with its test extra, redone only when
#     setup.py (or the checkout's location) changes: a stamp file in .venv
#     holds the sha256 of setup.py and the repo root;
#   - exactly one TensorFlow distribution, tensorflow-cpu, and tf-keras
#     installed with --no-deps (its only dependency is the full `tensorflow`
#     wheel; see setup.py). A venv that has `tensorflow` too (older setups,
#     or a later `pip install tf-keras`) is repaired: checked on every run
#     with two file globs, no Python started;
#   - the data sets fetched by bin/fetch_data (quick when already cached;
#     the cache is $TFP_FLOWS_DATA, else ~/.cache/tfp_flows);
#   - TF_CPP_MIN_LOG_LEVEL=2 and PYTHONHASHSEED=0 exported.
# Any failing step stops the caller with a one-line message.
#
# Knobs: PYTHON (interpreter used to create the venv, default python3),
# TFP_FLOWS_SKIP_FETCH=1 (skip the data fetch).

set -euo pipefail

_bs_name="$(basename "$0")"
_bs_die() {
  echo "${_bs_name}: error: $*" >&2
  exit 1
}
_bs_log() {
  echo "${_bs_name}: $*" >&2
}

_bs_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" \
  || _bs_die "cannot find the repo root from ${BASH_SOURCE[0]}"
cd "${_bs_root}" || _bs_die "cannot cd to ${_bs_root}"

export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
export PYTHONHASHSEED=0
# No prompts: CI runs without stdin.
export PIP_NO_INPUT=1
export PIP_DISABLE_PIP_VERSION_CHECK=1
export DEBIAN_FRONTEND="${DEBIAN_FRONTEND:-noninteractive}"

_bs_venv="${_bs_root}/.venv"
_bs_py="${_bs_venv}/bin/python"
_bs_stamp="${_bs_venv}/.tfp_flows-install-stamp"

# 1. The virtual environment.
if ! "${_bs_py}" -c 'import sys' >/dev/null 2>&1; then
  _bs_base="${PYTHON:-python3}"
  command -v "${_bs_base}" >/dev/null 2>&1 \
    || _bs_die "${_bs_base} not found on PATH (set PYTHON to a Python 3.11)"
  "${_bs_base}" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || _bs_die "$("${_bs_base}" -V 2>&1) found, but setup.py needs Python 3.11 (set PYTHON)"
  _bs_log "creating .venv with $("${_bs_base}" -V 2>&1)"
  # --clear: a half-made .venv (interrupted earlier) is rebuilt from scratch.
  "${_bs_base}" -m venv --clear "${_bs_venv}" \
    || _bs_die "'${_bs_base} -m venv .venv' failed (on Debian: apt-get install python3-venv)"
  rm -f "${_bs_stamp}"
fi

# 2. The package and its pinned dependencies.
_bs_want="$(sha256sum setup.py | cut -d' ' -f1) ${_bs_root}" \
  || _bs_die "cannot hash setup.py"
# The TensorFlow pins, read from setup.py (one place for them).
_bs_tf_version="$(sed -n "s/^_TF_VERSION = '\([^']*\)'$/\1/p" setup.py)"
_bs_tf_keras="$(sed -n "s/^_TF_KERAS = '\([^']*\)'$/\1/p" setup.py)"
[[ -n "${_bs_tf_version}" && -n "${_bs_tf_keras}" ]] \
  || _bs_die "cannot read _TF_VERSION and _TF_KERAS from setup.py"
_bs_site="$(echo "${_bs_venv}"/lib/python3*/site-packages)"
# `tensorflow-2.18.1.dist-info` is the full wheel; tensorflow-cpu's is
# tensorflow_cpu-*, so the first glob does not match it.
_bs_tf_full() { compgen -G "${_bs_site}/tensorflow-[0-9]*.dist-info" >/dev/null; }
_bs_has_tf_keras() { compgen -G "${_bs_site}/tf_keras-[0-9]*.dist-info" >/dev/null; }
if [[ ! -f "${_bs_stamp}" || "$(cat "${_bs_stamp}")" != "${_bs_want}" ]] \
    || _bs_tf_full || ! _bs_has_tf_keras; then
  _bs_log "installing the package and its dependencies into .venv (pip install -e '.[test]'; several minutes on a new machine)"
  _bs_log_file="${_bs_venv}/pip-install.log"
  _bs_pip() {
    if ! "${_bs_py}" -m pip "$@" >>"${_bs_log_file}" 2>&1; then
      grep -v 'is ignored: it is neither a file nor a directory' "${_bs_log_file}" \
        | tail -n 25 >&2 || true
      _bs_die "pip $* failed (full log: .venv/pip-install.log)"
    fi
  }
  : >"${_bs_log_file}"
  _bs_pip install -q -e '.[test]'
  _bs_pip install -q --no-deps "${_bs_tf_keras}"
  if _bs_tf_full; then
    _bs_log "removing the full tensorflow wheel installed beside tensorflow-cpu (see setup.py)"
    _bs_pip uninstall -y -q tensorflow
    # Both wheels own site-packages/tensorflow: the uninstall took
    # tensorflow-cpu's files too, so lay them down again.
    _bs_pip install -q --no-deps --force-reinstall "tensorflow-cpu==${_bs_tf_version}"
  fi
  # An inconsistent set of pins must not pass silently. The one expected
  # complaint is tf-keras's missing `tensorflow` (tensorflow-cpu provides it).
  "${_bs_py}" -m pip check >"${_bs_log_file}.check" 2>&1 || true
  _bs_bad="$(grep -v -e '^tf-keras [^ ]* requires tensorflow, which is not installed\.$' \
    -e '^No broken requirements found\.$' "${_bs_log_file}.check" || true)"
  [[ -z "${_bs_bad}" ]] \
    || _bs_die "pip check failed after install: $(tr '\n' ' ' <"${_bs_log_file}.check")"
  echo "${_bs_want}" >"${_bs_stamp}"
  _bs_log "install done"
fi

# 3. The data sets.
if [[ "${TFP_FLOWS_SKIP_FETCH:-0}" != 1 ]]; then
  "${_bs_py}" bin/fetch_data >/dev/null \
    || _bs_die "bin/fetch_data failed (see its message above)"
fi

unset _bs_base _bs_want _bs_log_file _bs_bad _bs_tf_version _bs_tf_keras _bs_site
unset -f _bs_tf_full _bs_has_tf_keras _bs_pip
