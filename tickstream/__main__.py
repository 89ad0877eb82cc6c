from tickstream.cli import main

raise SystemExit(main())
