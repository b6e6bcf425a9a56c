from ncvqvae.cli import main

main()
