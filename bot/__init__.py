"""Sales Copilot: the kernel (`bot.core`), infrastructure (`bot.infra`), the composition root
(`bot.app`), the `copilot` command line (`bot.cli`) and the demo (`bot.demo`)."""
