# The app for a clinic server: docker build -t skin-lesion-app . && docker run -p 8501:8501 skin-lesion-app
# With the case history kept on the host (docs/case-history.md); the database URL or file is given at run
# time, never built into the image (.dockerignore keeps .streamlit/secrets.toml out):
#   docker run -p 8501:8501 -v /srv/skin-cases:/data -e SKIN_CASES_DATABASE=/data/cases.db skin-lesion-app
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt requirements-base.txt ./
RUN python -m pip install --no-cache-dir -r requirements.txt
COPY . .
# the code is root's and read-only to the app; only /data (the case history) is the app user's, mode 0700
RUN useradd --system --home /data skinapp && mkdir /data && chown skinapp /data && chmod 0700 /data
VOLUME /data
USER skinapp
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"
# umask 077: the database, its -wal file, backups and exports are readable by the app user only
CMD ["sh", "-c", "umask 077 && exec python -m streamlit run app.py --server.address 0.0.0.0 --server.port 8501"]
