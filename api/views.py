"""HTTP only: the REST API. Uploads go through detection's upload service, reads through owner-scoped selectors."""
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from detection import deletion, intake, verdicts
from detection import errors as detection_errors
from detection.models import DetectionJob

from . import errors, netcheck, selectors, services
from .serializers import (
    AnalysisCreateSerializer,
    AnalysisDetailSerializer,
    AnalysisPageSerializer,
    AnalysisSerializer,
    ErrorSerializer,
    ReportSerializer,
)

ERRORS = {code: OpenApiResponse(ErrorSerializer, description=words) for code, words in {
    400: "Invalid input (code: invalid, or an upload code such as unsupported_type, corrupt_media, empty_file, "
         "too_long, unsafe_callback_url)",
    401: "No valid token or session (code: not_authenticated)",
    403: "Not allowed (code: permission_denied)",
    404: "No such analysis of yours (code: not_found)",
    409: "The analysis is in a state that does not allow this (code: not_finished, job_running)",
    413: "The file is over the size limit (code: too_large)",
    429: "Too many requests or uploads (code: throttled, rate_limited)",
}.items()}


# Analysis ids are positive integers (the URL pattern takes digits only).
ANALYSIS_ID = OpenApiParameter("id", {"type": "integer", "minimum": 1}, OpenApiParameter.PATH,
                               description="The analysis id")


def errors_for(*statuses: int) -> dict:
    """The error answers an operation documents, each an RFC 9457 problem document (api.errors)."""
    return {(code, errors.PROBLEM_CONTENT_TYPE): ERRORS[code] for code in (401, 403, 429, *statuses)}


class AnalysisPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request):
        from django.conf import settings

        self.page_size = settings.API_PAGE_SIZE
        return super().get_page_size(request)


class ListFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=DetectionJob.Status.choices, required=False)
    verdict = serializers.ChoiceField(choices=verdicts.KEYS, required=False)
    page = serializers.IntegerField(min_value=1, required=False)
    page_size = serializers.IntegerField(min_value=1, max_value=100, required=False, help_text="1 to 100")


def no_blanks(data, names) -> None:
    """A parameter that is present must have a value: DRF reads ``?status=`` as absent, the schema does not."""
    blank = {name: ["This field may not be blank."] for name in names if name in data and data.get(name) == ""}
    if blank:
        raise serializers.ValidationError(blank)


def only_known(query, names) -> None:
    """The schema lists every parameter; one it does not know (a typo such as ``?stauts=``) is refused, not
    silently ignored. ``format`` is DRF's own."""
    unknown = sorted(set(query) - set(names) - {"format"})
    if unknown:
        raise serializers.ValidationError({name: ["Unknown parameter."] for name in unknown})


def _analysis_or_404(request, pk: int):
    media = selectors.analysis_for_user(request.user, pk)
    if media is None:
        raise Http404  # someone else's or nobody's: the same answer
    return media


class AnalysisListCreate(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="analyses_list",
        summary="List your analyses, newest first",
        parameters=[ListFilterSerializer],
        responses={200: AnalysisPageSerializer, **errors_for(400, 404)},
    )
    def get(self, request):
        only_known(request.query_params, ListFilterSerializer().fields)
        no_blanks(request.query_params, ListFilterSerializer().fields)
        filters = ListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        wanted = {k: v for k, v in filters.validated_data.items() if k in ("status", "verdict")}
        media = selectors.analysis_list_for_user(request.user, **wanted)
        paginator = AnalysisPagination()
        page = paginator.paginate_queryset(media, request, view=self)
        data = AnalysisSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="analyses_create",
        summary="Upload a file for analysis",
        description="The same content uploaded again by you returns the existing analysis (200) instead of a "
                    "new one (201).",
        request={"multipart/form-data": AnalysisCreateSerializer},
        responses={201: AnalysisDetailSerializer, 200: AnalysisDetailSerializer, **errors_for(400, 413)},
    )
    def post(self, request):
        no_blanks(request.data, ["callback_url"])
        form = AnalysisCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        callback_url = form.validated_data.get("callback_url")
        if callback_url:
            try:
                services.callback_url_check(callback_url)
            except netcheck.UnsafeUrl as exc:
                raise errors.ApiError(errors.UNSAFE_CALLBACK_URL, str(exc)) from exc
        try:
            result = intake.media_upload(owner=request.user, uploaded=form.validated_data["file"])
        except intake.UploadRejected as exc:
            retry = selectors.upload_retry_after(request.user) if exc.code == detection_errors.RATE_LIMITED else None
            raise errors.ApiError(exc.code, exc.message, errors.UPLOAD_STATUS.get(exc.code, 400),
                                  retry_after=retry) from exc
        if callback_url:
            services.webhook_attach(job=result.media.job, url=callback_url)
        media = selectors.analysis_for_user(request.user, result.media.pk)
        data = AnalysisDetailSerializer(media, context={"request": request}).data
        response = Response(data, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)
        response["Location"] = request.build_absolute_uri(f"/api/v1/analyses/{media.pk}/")
        return response


class AnalysisDetail(APIView):
    @extend_schema(operation_id="analyses_retrieve", summary="One analysis, with per-frame scores once done",
                   parameters=[ANALYSIS_ID],
                   responses={200: AnalysisDetailSerializer, **errors_for(404)})
    def get(self, request, pk: int):
        media = _analysis_or_404(request, pk)
        return Response(AnalysisDetailSerializer(media, context={"request": request}).data)

    @extend_schema(operation_id="analyses_destroy", summary="Delete an analysis, its upload and its files",
                   parameters=[ANALYSIS_ID],
                   responses={204: None, **errors_for(404, 409)})
    def delete(self, request, pk: int):
        media = _analysis_or_404(request, pk)
        if media.job.status == DetectionJob.Status.RUNNING:
            raise errors.ApiError(errors.JOB_RUNNING, "The analysis is running; delete it once it has ended.",
                                  status.HTTP_409_CONFLICT)
        deletion.media_delete(media=media)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AnalysisReport(APIView):
    @extend_schema(operation_id="analyses_report", summary="The full report of an ended analysis (JSON download)",
                   parameters=[ANALYSIS_ID],
                   responses={200: ReportSerializer, **errors_for(404, 409)})
    def get(self, request, pk: int):
        media = _analysis_or_404(request, pk)
        if not media.job.is_final:
            raise errors.ApiError(errors.NOT_FINISHED, "The analysis has not ended yet.", status.HTTP_409_CONFLICT)
        response = Response(ReportSerializer(media, context={"request": request}).data)
        response["Content-Disposition"] = f'attachment; filename="analysis-{media.pk}.json"'
        return response
