from ooo.cli import main

raise SystemExit(main())
