from opscheck.cli import main

main()
