from retail_sim.cli import main

main()
