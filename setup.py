"""tfp_flows: likelihoods of flow models under semantic-invariant transformations."""

import setuptools

# Versions proven to work together on Python 3.11 (CPU); see README.
_TF_VERSION = '2.18.1'
INSTALL_REQUIRES = [
    f'tensorflow-cpu=={_TF_VERSION}',
    'tensorflow-probability==0.25.0',
    'tf-keras==2.18.0',
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
        # GPU machines: the same TensorFlow release with CUDA wheels.
        'gpu': [f'tensorflow[and-cuda]=={_TF_VERSION}'],
        'test': ['pytest==9.2.0'],
    },
)
