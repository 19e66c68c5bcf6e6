from sipsimple.cli.main import main

main()
