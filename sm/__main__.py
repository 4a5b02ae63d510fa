from sm.cli.main import main

raise SystemExit(main())
