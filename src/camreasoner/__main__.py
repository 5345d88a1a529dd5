from camreasoner.cli import main

raise SystemExit(main())
