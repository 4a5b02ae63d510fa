"""sm's git side: worktrees, repo mirrors, pushed branches and PRs (asyncio subprocesses)."""
