# docs/: documentation and manual pages.
EXTRA_DIST += docs/architecture.md docs/performance.md docs/api.md docs/file-posix.md \
	docs/windows.md docs/qcow2.md docs/reliability.md
