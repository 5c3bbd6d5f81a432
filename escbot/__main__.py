from escbot.cli import main

main()
