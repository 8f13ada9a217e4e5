"""tfp_flows: likelihoods of flow models under semantic-invariant transformations."""

import setuptools

# Versions proven to work together on Python 3.11 (CPU); see README.
_TF_VERSION = '2.18.1'
# tf-keras (TFP's Keras) is NOT in INSTALL_REQUIRES: bin/_bootstrap.sh installs
# it with `pip install --no-deps` (it reads the pin from this line).
#
# Exactly one TensorFlow distribution: tensorflow-cpu. tf-keras 2.18 declares
# `tensorflow>=2.18,<2.19` as its only dependency, so a plain install also pulls
# the full `tensorflow` wheel next to tensorflow-cpu: two distributions writing
# the same files (site-packages/tensorflow), the CUDA build winning. Measured
# on a CPU-only machine (TF 2.18.1, separate venvs; issue 16 item 7):
#   - `tensorflow` alone (1.7 GB) prints E-level lines on every import (cuFFT,
#     cuDNN and cuBLAS "Unable to register ... factory") and "failed call to
#     cuInit" at the first op. CUDA_VISIBLE_DEVICES=-1 hides none of them;
#     TF_CPP_MIN_LOG_LEVEL=2 none either (they are errors); =3 hides cuFFT and
#     cuInit but not cuDNN/cuBLAS (logged before absl is set up), and would
#     hide every real C++ error too.
#   - `tensorflow-cpu` (1.0 GB) + tf-keras --no-deps: tensorflow,
#     tensorflow_probability, tf_keras and tfp_flows import and run, with no
#     CUDA line and no E line (only two I-level notes, hidden by the
#     TF_CPP_MIN_LOG_LEVEL the bin/ scripts set); matmul/conv speed the same
#     as the full wheel (both use oneDNN). Cost: `pip check` reports
#     "tf-keras 2.18.0 requires tensorflow, which is not installed", the one
#     line bin/_bootstrap.sh accepts.
# Keras 3 (`keras`) stays: both TF wheels declare `keras>=3.5.0` as a hard
# dependency. Nothing here imports it (TFP and tfp_flows use tf_keras); TF only
# loads it lazily if `tf.keras` is touched.
_TF_KERAS = 'tf-keras==2.18.0'
INSTALL_REQUIRES = [
    f'tensorflow-cpu=={_TF_VERSION}',
    'tensorflow-probability==0.25.0',
    'tensorflow-datasets==4.9.10',
    # tensorflow 2.18 needs protobuf<6; tensorflow-metadata 1.21 ships
    # protobuf-6 generated code and fails to import on a 5.x runtime.
    # 1.17.3 is the newest release generated for a runtime we can use.
    'tensorflow-metadata==1.17.3',
    'protobuf==5.29.6',
    # Same risk (generated code newer than the runtime) for the google.*
    # protos that tensorflow-metadata imports; this release loads on 5.29.
    'googleapis-common-protos==1.75.0',
    'gin-config==0.5.0',
    'absl-py==2.5.1',
    'numpy==2.0.2',
    'matplotlib==3.11.2',
]

setuptools.setup(
    name='tfp_flows',
    version='0.1.0',
    description=('Glow and PixelCNN in TensorFlow Probability, and what their '
                 'likelihoods say about images'),
    long_description=open('README.md').read() if __import__('os').path.exists(
        'README.md') else '',
    long_description_content_type='text/markdown',
    packages=setuptools.find_packages(include=['tfp_flows', 'tfp_flows.*']),
    python_requires='>=3.11,<3.12',
    install_requires=INSTALL_REQUIRES,
    extras_require={
        # GPU machines: the same TensorFlow release with CUDA wheels, in a venv
        # of their own (not bin/_bootstrap.sh's, which keeps tensorflow-cpu):
        # uninstall tensorflow-cpu after installing this extra.
        'gpu': [f'tensorflow[and-cuda]=={_TF_VERSION}', _TF_KERAS],
        # pytest-xdist runs `bin/test --fast` on both cores (1 min 55 s
        # against 3 min 4 s serial, measured under contention); the full
        # suite stays serial in CI (7 min 3 s against 7 min 49 s: a 10%
        # gain, not worth two processes racing for the shared data cache
        # and ports in the subprocess tests).
        'test': ['pytest==9.2.0', 'pytest-xdist==3.8.0'],
    },
)
